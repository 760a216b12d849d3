/** A record waiting for the segment log's next group write, and how an append ends. */
export type AppendOutcome = { readonly kind: 'durable' } | { readonly kind: 'failed'; readonly reason: string };

export interface Pending {
  /** The record's buffers, sealed for the generation it lands in. */
  readonly build: (generation: number) => Buffer[];
  readonly size: number;
  readonly apply: (generation: number, offset: number) => void;
  readonly resolve: (o: AppendOutcome) => void;
}
