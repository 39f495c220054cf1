import type { TransitionContext } from '@fsmkit/decorators';

/** The context a transition method and its guard see; the engine reads back data and metadata. */
export class RunningTransitionContext<TData, TInput = unknown> implements TransitionContext<TData, TInput> {
  data: TData;
  metadata: Record<string, unknown> = {};

  constructor(
    readonly instanceId: string,
    readonly machine: string,
    readonly userId: string | null,
    readonly transition: string,
    readonly from: string,
    readonly to: string,
    readonly input: TInput,
    readonly actor: string | null,
    data: TData,
  ) {
    this.data = data;
  }

  set(patch: Partial<TData>): void {
    this.data = { ...this.data, ...patch };
  }

  annotate(metadata: Record<string, unknown>): void {
    Object.assign(this.metadata, metadata);
  }
}
