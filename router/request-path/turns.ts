// Large-request steps (parsing a big body, analysing a long prompt) take turns: one step per turn of the event
// loop, with I/O handled between them. Yielding alone is not enough: steps of requests whose bodies arrived together
// would all resume in the same turn and run back to back, delaying every other request by their sum.
export class Turns {
  private waiting: (() => void)[] = [];
  private pumping = false;

  /** Resolves when it is this step's turn (a later turn of the event loop than the call). */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.pumping) {
        this.pumping = true;
        setImmediate(this.next);
      }
    });
  }

  private readonly next = (): void => {
    const step = this.waiting.shift();
    if (!step) {
      this.pumping = false;
      return;
    }
    step();
    // Queued from inside this turn's check phase, so it runs in the next turn, after pending I/O.
    setImmediate(this.next);
  };
}
