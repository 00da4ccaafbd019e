import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { MailTransport } from '../mail/transport.ts';
import type { RelyingParty } from '../rp/index.ts';
import type { AppMetrics } from './metrics.ts';
import type { ViewRenderer } from './pages/views.ts';

/** What every route of the plugin needs, passed explicitly rather than through globals. */
export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly rp: RelyingParty;
  /** The pages, with this registration's brand and template overrides. */
  readonly views: ViewRenderer;
  /** Outgoing mail, or null when it is not set up (no EMAIL_URL in production): then reset by email is off. */
  readonly mail: Mail | null;
  /** Prometheus metrics (METRICS=on), or null when they are off. */
  readonly metrics: AppMetrics | null;
}

export interface Mail {
  readonly transport: MailTransport;
  /** Tells this instance's sender that a row was just added to the outbox. */
  wake(): void;
}
