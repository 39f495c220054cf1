import { Lock, Machine, Step, Transition, type StepContext, type TransitionContext } from '@fsmkit/runtime';

export interface TicketData {
  subject: string;
  customer: string;
  assignee?: string;
  resolution?: string;
  notified?: string[];
  log: string[];
}

export interface AssignInput {
  /** Who works on it from now on. */
  assignee: string;
}

export interface ResolveInput {
  resolution: string;
  /** Send the customer a survey with the answer. */
  survey?: boolean;
}

export interface CancelInput {
  reason: string;
}

/**
 * A support ticket, moved by people through named transitions: assigned, then resolved or
 * rejected by its assignee only, reopened by the customer, cancelled from any open state.
 * Resolving runs one step (tell the customer), after which the ticket rests as resolved.
 */
@Machine({ name: 'ticket', topic: 'support.tickets.fsm', initial: 'open' })
@Lock('local', { by: 'user' })
export class TicketMachine {
  @Transition('assign', { from: ['open', 'in_review'], to: 'in_review' })
  assign(ctx: TransitionContext<TicketData, AssignInput>) {
    const previous = ctx.data.assignee ?? null;
    ctx.data.assignee = ctx.input.assignee;
    ctx.data.log.push(`assigned to ${ctx.input.assignee} by ${ctx.actor}`);
    return { previous };
  }

  @Transition('resolve', { from: 'in_review', to: 'notifyCustomer', guard: 'byAssignee' })
  resolve(ctx: TransitionContext<TicketData, ResolveInput>) {
    ctx.data.resolution = ctx.input.resolution;
    ctx.data.log.push(`resolved by ${ctx.actor}`);
  }

  @Transition('reject', { from: 'in_review', to: 'rejected', guard: 'byAssignee' })
  reject(ctx: TransitionContext<TicketData, CancelInput>) {
    ctx.data.log.push(`rejected by ${ctx.actor}: ${ctx.input.reason}`);
  }

  @Transition('reopen', { from: 'resolved', to: 'in_review' })
  reopen(ctx: TransitionContext<TicketData, CancelInput>) {
    ctx.data.log.push(`reopened by ${ctx.actor}: ${ctx.input.reason}`);
  }

  @Transition('cancel', { from: '*', to: 'cancelled' })
  cancel(ctx: TransitionContext<TicketData, CancelInput>) {
    ctx.data.log.push(`cancelled by ${ctx.actor}: ${ctx.input.reason}`);
  }

  /** Only the assignee decides. */
  byAssignee(ctx: TransitionContext<TicketData, unknown>) {
    return ctx.actor === ctx.data.assignee || `only the assignee (${ctx.data.assignee ?? 'nobody yet'}) may ${ctx.transition} this ticket`;
  }

  @Step(1, { next: 'resolved', retry: { maxAttempts: 3, backoffMs: 10 } })
  async notifyCustomer(ctx: StepContext<TicketData>) {
    (ctx.data.notified ??= []).push(`${ctx.data.customer}: ${ctx.data.resolution}`);
  }
}
