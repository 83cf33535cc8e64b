/**
 * Slices long synchronous work (a Watch catching up over thousands of commits, whose consumer may
 * never await real I/O) so timers, sockets and other calls run in between: `pace()` yields to the
 * event loop once the current slice has run for `sliceMs`.
 */
import { laterTurn } from '../../runtime/next-turn.js';
export class Pacer {
  private sliceStart = performance.now();

  constructor(private readonly sliceMs = 10) {}

  async pace(): Promise<void> {
    if (performance.now() - this.sliceStart < this.sliceMs) return;
    await laterTurn();
    this.restart();
  }

  /** The caller has just waited for I/O (the event loop ran meanwhile): a new slice begins. */
  restart(): void {
    this.sliceStart = performance.now();
  }
}
