/** Work that runs once per key at a time: asking again while it runs joins the running one. */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const current = this.running.get(key);
    if (current) return current;
    const p = work().finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }
}
