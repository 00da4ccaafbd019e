import { appLogin, loginLoad, providerOnlyLogin, type LoadResult } from '../lib/logins.ts';
import type { Options } from '../lib/options.ts';
import { coreBusyMs, cpuMs, SERVER_CORE } from '../lib/proc.ts';
import { ALICE, OURS_CLIENT, type Stack } from '../lib/stack.ts';
import { median, spread } from '../lib/stats.ts';

export interface LoginSummary {
  key: string;
  label: string;
  loginsPerSecond: number;
  loginsSpread: { min: number; max: number };
  /** CPU time of the app process per complete login, ms (NaN for the provider alone). */
  appCpuMs: number;
  /** CPU time of the provider process per login, ms. */
  providerCpuMs: number;
  errors: number;
  firstError: string | undefined;
  completed: number;
  /** Median share of core 0 used by processes other than the app during the runs (0..1). */
  otherLoad: number;
  /** Each round's app CPU per complete login, ms (in the order of the rounds). */
  rounds: Array<{ appCpuMs: number; otherLoad: number }>;
}

interface Target {
  key: string;
  label: string;
  appPid: number | null;
  once: () => Promise<unknown>;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/**
 * 2. Complete logins through the code flow, each as a new browser (no provider session): the app's
 * start route, the provider's authorize and login form, the callback (token exchange, ID token
 * checks, userinfo, user provisioning, new session). The provider alone is the same provider work
 * without an app. CPU per login is read from /proc/<pid>/stat around each run.
 */
export async function loginSection(stack: Stack, options: Options): Promise<Map<string, LoginSummary>> {
  const targets: Target[] = [
    {
      key: 'provider', label: 'provider alone (ceiling)', appPid: null,
      once: () => providerOnlyLogin(stack.endpoints, { ...OURS_CLIENT, redirectUri: stack.ours.login!.callbackUrl }, ALICE),
    },
    ...[stack.ours, stack.eoc, stack.okta].map((app) => ({
      key: app.key, label: app.label, appPid: app.child.pid, once: () => appLogin(app.login!, ALICE),
    })),
  ];
  const runs = new Map<string, Array<LoadResult & { appCpu: number; providerCpu: number; otherLoad: number }>>(targets.map((t) => [t.key, []]));
  const measure = async (target: Target, seconds: number) => {
    const app0 = target.appPid === null ? 0 : cpuMs(target.appPid);
    const idp0 = cpuMs(stack.idp.pid);
    const core0 = coreBusyMs(SERVER_CORE);
    const result = await loginLoad(options.loginConcurrency, seconds * 1000, target.once);
    const appCpu = target.appPid === null ? NaN : cpuMs(target.appPid) - app0;
    const otherLoad = Math.max(0, (coreBusyMs(SERVER_CORE) - core0 - (Number.isNaN(appCpu) ? 0 : appCpu)) / result.elapsedMs);
    return { ...result, appCpu, providerCpu: cpuMs(stack.idp.pid) - idp0, otherLoad };
  };
  if (options.warmupSeconds > 0) for (const target of targets) await measure(target, options.warmupSeconds);
  for (let round = 0; round < options.rounds; round++) {
    for (let i = 0; i < targets.length; i++) {
      const target = targets[(i + round) % targets.length]!;
      const run = await measure(target, options.seconds);
      runs.get(target.key)!.push(run);
      const perSecond = (run.completed * 1000) / run.elapsedMs;
      log(`  logins round ${round + 1}/${options.rounds} ${target.label}: ${perSecond.toFixed(1)} logins/s, app ${(run.appCpu / run.completed).toFixed(2)} ms/login, provider ${(run.providerCpu / run.completed).toFixed(2)} ms/login${run.errors ? `, ${run.errors} errors (${run.firstError})` : ''}; other processes on core 0: ${(run.otherLoad * 100).toFixed(0)}%`);
    }
  }
  const summaries = new Map<string, LoginSummary>();
  for (const target of targets) {
    const rounds = runs.get(target.key)!;
    const perSecond = rounds.map((r) => (r.completed * 1000) / r.elapsedMs);
    summaries.set(target.key, {
      key: target.key,
      label: target.label,
      loginsPerSecond: median(perSecond),
      loginsSpread: spread(perSecond),
      appCpuMs: median(rounds.map((r) => r.appCpu / r.completed)),
      providerCpuMs: median(rounds.map((r) => r.providerCpu / r.completed)),
      errors: rounds.reduce((sum, r) => sum + r.errors, 0),
      firstError: rounds.find((r) => r.firstError)?.firstError,
      completed: rounds.reduce((sum, r) => sum + r.completed, 0),
      otherLoad: median(rounds.map((r) => r.otherLoad)),
      rounds: rounds.map((r) => ({ appCpuMs: r.appCpu / r.completed, otherLoad: r.otherLoad })),
    });
  }
  return summaries;
}
