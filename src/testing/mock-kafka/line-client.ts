/**
 * The client of a cluster process's line protocol (`native/mock-kafka.c`, and the fallback child
 * that speaks the same): the process prints one first line (`ready <bootstrap>` or `err <message>`),
 * then answers each command line with exactly one line, `ok`, `ok <value>` or `err <message>`. One
 * command is in flight at a time; each gets a promise. When the process dies, everything pending and
 * everything later rejects with a {@link TransportError} carrying its exit status and stderr tail.
 *
 * @module
 */
import type { ChildProcess } from "node:child_process";
import { TransportError } from "../../core/errors.ts";
import { outputTail } from "./output-tail.ts";

interface Pending {
  readonly line: string;
  readonly resolve: (reply: string) => void;
  readonly reject: (err: Error) => void;
}

type Refable = { ref?: () => void; unref?: () => void };

/** Refs or unrefs the child and its pipes (so an idle child does not keep the event loop alive). */
const setRef = (child: ChildProcess, ref: boolean): void => {
  for (const h of [
    child as Refable,
    child.stdout as Refable | null,
    child.stderr as Refable | null,
    child.stdin as Refable | null,
  ]) {
    if (!h) continue;
    try {
      if (ref) h.ref?.();
      else h.unref?.();
    } catch {
      // Not every runtime's streams support ref/unref.
    }
  }
};

/** Line-protocol client of a cluster process: one command in flight, a promise per line. */
export class LineClient {
  private readonly queue: Pending[] = [];
  private inFlight: Pending | undefined;
  private buffer = "";
  private readonly stderr = outputTail(4000);
  private readyWaiter: { resolve: (line: string) => void; reject: (e: Error) => void } | undefined;
  private exitError: TransportError | undefined;
  /** Resolves when the process has exited (or could not be run). */
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly label: string;
  private readonly commandTimeoutMs: number;

  /**
   * @param child the process, spawned with piped stdin, stdout and stderr
   * @param label names the process in error messages
   * @param commandTimeoutMs how long a command may wait for its reply before the process is killed
   */
  constructor(child: ChildProcess, label: string, commandTimeoutMs: number) {
    this.child = child;
    this.label = label;
    this.commandTimeoutMs = commandTimeoutMs;
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => this.onData(chunk));
    child.stderr?.on("data", this.stderr.push);
    // EPIPE when the process is gone: the exit handler reports it.
    child.stdin?.on("error", () => {});
    this.exited = new Promise<void>((resolve) => {
      child.on("error", (e) => {
        this.fail(new TransportError(`${label}: could not run: ${e.message}`, { cause: e, retryable: false }));
        resolve();
      });
      child.on("exit", (code, signal) => {
        const why = signal ? `signal ${signal}` : `code ${String(code)}`;
        const err = this.stderr.text ? `; stderr: ${this.stderr.text}` : "";
        this.fail(new TransportError(`${label} exited (${why})${err}`, { retryable: false }));
        resolve();
      });
    });
    this.idle();
  }

  /** The process's id (`undefined` if the runtime does not report it). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the process has exited (or could not be run). */
  get closed(): boolean {
    return this.exitError !== undefined;
  }

  /** Resolves the first line the process prints (`ready ...` or `err ...`); kills it after `timeoutMs`. */
  ready(timeoutMs: number): Promise<string> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        this.kill();
        reject(new TransportError(`${this.label} did not start within ${timeoutMs} ms`, { retryable: false }));
      }, timeoutMs);
      this.readyWaiter = {
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.busy();
    }).finally(() => this.idle());
  }

  /** Sends one command; resolves the text after `ok`, rejects with the process's `err` message. */
  send(line: string): Promise<string> {
    if (this.exitError) return Promise.reject(this.exitError);
    return new Promise<string>((resolve, reject) => {
      this.queue.push({ line, resolve, reject });
      this.pump();
    });
  }

  /** Kills the process at once (SIGKILL). */
  kill(): void {
    this.child.kill("SIGKILL");
  }

  /** Ends the process's stdin (it exits at end of input); kills it if it is still up `graceMs` later. */
  async close(graceMs: number): Promise<void> {
    if (this.closed) return;
    this.child.stdin?.end();
    const killer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(killer);
  }

  private pump(): void {
    if (this.inFlight || this.exitError) return;
    const next = this.queue.shift();
    if (!next) {
      this.idle();
      return;
    }
    this.busy();
    const timer = setTimeout(() => {
      this.kill();
      this.fail(new TransportError(`${this.label}: no reply to "${next.line}" within ${this.commandTimeoutMs} ms`));
    }, this.commandTimeoutMs);
    this.inFlight = {
      line: next.line,
      resolve: (r) => {
        clearTimeout(timer);
        next.resolve(r);
      },
      reject: (e) => {
        clearTimeout(timer);
        next.reject(e);
      },
    };
    this.child.stdin?.write(`${next.line}\n`);
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let i = this.buffer.indexOf("\n");
    while (i >= 0) {
      const line = this.buffer.slice(0, i).trim();
      this.buffer = this.buffer.slice(i + 1);
      this.onLine(line);
      i = this.buffer.indexOf("\n");
    }
  }

  private onLine(line: string): void {
    if (this.readyWaiter) {
      const w = this.readyWaiter;
      this.readyWaiter = undefined;
      w.resolve(line);
      return;
    }
    const current = this.inFlight;
    if (!current) return; // unsolicited output: ignore
    this.inFlight = undefined;
    if (line === "ok" || line.startsWith("ok ")) current.resolve(line.slice(3));
    else
      current.reject(
        new TransportError(`${this.label}: "${current.line}" failed: ${line.replace(/^err /, "")}`, {
          retryable: false,
        }),
      );
    this.pump();
  }

  private fail(err: TransportError): void {
    if (this.exitError) return;
    this.exitError = err;
    this.readyWaiter?.reject(err);
    this.readyWaiter = undefined;
    this.inFlight?.reject(err);
    this.inFlight = undefined;
    for (const p of this.queue.splice(0)) p.reject(err);
  }

  /** Keep the event loop alive only while a command is outstanding: an idle, forgotten cluster never holds a test run open. */
  private busy(): void {
    setRef(this.child, true);
  }

  private idle(): void {
    if (!this.inFlight && this.queue.length === 0 && !this.readyWaiter) setRef(this.child, false);
  }
}
