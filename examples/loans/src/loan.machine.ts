import { Machine, Step, Transition, type StepContext, type TransitionContext } from '@fsmkit/runtime';
import { bank, BankUnavailable, bureau } from './bank.js';

export interface LoanData {
  applicationId: string;
  applicant: string;
  amountCents: number;
  incomeCents: number;
  score?: number;
  rounds: number;
  decision?: 'approved' | 'rejected';
  officer?: string;
  payoutId?: string;
  /** Why the payout went to a person, when it did. */
  manualPayout?: string;
}

export interface DocumentsInput {
  /** Documented yearly income, in cents. */
  incomeCents: number;
}

export interface DecisionInput {
  note: string;
}

/**
 * A loan application. The score decides: approve at once, send to a loan officer, or reject.
 * The officer approves, declines, or asks for documents, which loops back to scoring. The
 * payout retries a slow bank and, when the bank stays down, is caught and handed to a person.
 */
@Machine({ name: 'loan', topic: 'bank.loans.fsm' })
export class LoanMachine {
  @Step(1, { next: ['autoApprove', 'manualReview', 'reject'] })
  score(ctx: StepContext<LoanData>) {
    ctx.data.rounds += 1;
    const score = (ctx.data.score = bureau.score(ctx.data.applicant, ctx.data.incomeCents));
    if (score >= 700) return ctx.goto('autoApprove');
    if (score >= 550 && ctx.data.rounds <= 3) return ctx.goto('manualReview');
    return ctx.goto('reject');
  }

  @Step(2, { next: 'payout' })
  autoApprove(ctx: StepContext<LoanData>) {
    ctx.data.decision = 'approved';
  }

  @Step(3, {
    end: true,
    retry: { maxAttempts: 3, backoffMs: 5, on: [BankUnavailable] },
    catch: [{ on: [BankUnavailable], goto: 'payManually' }],
  })
  async payout(ctx: StepContext<LoanData>) {
    ctx.data.payoutId = await bank.pay(ctx.data.applicationId, ctx.data.amountCents);
  }

  @Step(4, { end: true })
  payManually(ctx: StepContext<LoanData>) {
    ctx.data.manualPayout = ctx.error?.message ?? 'unknown';
  }

  @Step(5, { end: true })
  reject(ctx: StepContext<LoanData>) {
    ctx.data.decision = 'rejected';
  }

  @Step(6, { next: 'score' })
  collectDocuments(ctx: StepContext<LoanData>) {
    ctx.data.score = undefined;
  }

  @Transition('approve', { from: 'manualReview', to: 'payout', guard: 'officerOnly' })
  approve(ctx: TransitionContext<LoanData, DecisionInput>) {
    ctx.data.decision = 'approved';
    ctx.data.officer = ctx.actor ?? undefined;
    return { note: ctx.input.note };
  }

  @Transition('decline', { from: 'manualReview', to: 'reject', guard: 'officerOnly' })
  decline(ctx: TransitionContext<LoanData, DecisionInput>) {
    ctx.data.officer = ctx.actor ?? undefined;
    return { note: ctx.input.note };
  }

  @Transition('requestDocuments', { from: 'manualReview', to: 'collectDocuments' })
  requestDocuments(ctx: TransitionContext<LoanData, DocumentsInput>) {
    ctx.data.incomeCents = ctx.input.incomeCents;
  }

  officerOnly(ctx: TransitionContext<LoanData, DecisionInput>) {
    return (ctx.actor ?? '').startsWith('officer:') || 'only a loan officer decides';
  }
}
