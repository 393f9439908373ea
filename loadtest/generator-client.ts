/**
 * The harness's side of the generator process (generator.ts): starts it,
 * waits for its handshake with the target, and sends it one run at a time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT } from './lib.ts';
import { API_KEY, track } from './parties.ts';
import type { GeneratorSpec, RunCommand, RunResult, Sample, Workload } from './workload-protocol.ts';

/** The generator's spec for the workload's calls to `url` (OPA: the captured policy input). */
export function generatorSpec(
  url: string,
  workload: Workload,
  plan: { readonly connections: number; readonly timeoutMs: number },
  opaInput?: unknown,
): GeneratorSpec {
  return {
    url,
    workload,
    headers: workload === 'opa' ? {} : ({ 'x-api-key': API_KEY } as Record<string, string>),
    ...(opaInput === undefined ? {} : { opaInput }),
    expect: workload === 'opa' ? '"allow":true' : '"result"',
    connections: plan.connections,
    timeoutMs: plan.timeoutMs,
  };
}

/** The generator process (generator.ts), driven one run at a time. */
export class Generator {
  readonly #proc: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (r: RunResult) => void; reject: (e: Error) => void; onSample: ((s: Sample) => void) | undefined }
  >();
  #nextId = 1;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
  }

  get pid(): number {
    return this.#proc.pid!;
  }

  static async start(spec: GeneratorSpec, ttlS: number): Promise<Generator> {
    const proc = spawn(process.execPath, [join(ROOT, 'loadtest/generator.ts'), JSON.stringify(spec)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LOADTEST_TTL_S: String(ttlS) },
    });
    track(proc);
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    const gen = new Generator(proc);
    const lines = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`generator exited (${code}) before it was ready: ${err}`)));
      lines.once('line', (line) => {
        const first = JSON.parse(line) as { ready: boolean; error?: string };
        if (first.ready) resolve();
        else reject(new Error(`generator handshake with ${spec.url} failed: ${first.error}`));
      });
    });
    lines.on('line', (line) => {
      const msg = JSON.parse(line) as { id: number; result?: RunResult; sample?: Sample };
      const p = gen.#pending.get(msg.id);
      if (!p) return;
      if (msg.sample) p.onSample?.(msg.sample);
      if (msg.result) {
        gen.#pending.delete(msg.id);
        p.resolve(msg.result);
      }
    });
    proc.once('exit', (code) => {
      for (const p of gen.#pending.values()) p.reject(new Error(`generator exited (${code}): ${err}`));
    });
    return gen;
  }

  run(cmd: Omit<RunCommand, 'id'>, onSample?: (s: Sample) => void): Promise<RunResult> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onSample });
      this.#proc.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#proc.exitCode !== null) return resolve();
      this.#proc.once('exit', () => resolve());
      this.#proc.stdin!.end(); // the generator ends with its stdin (lifetime.ts)
      setTimeout(() => this.#proc.kill('SIGKILL'), 5000).unref();
    });
  }
}
