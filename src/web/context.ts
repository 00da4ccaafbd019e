import type { Config } from '../config/index.ts';
import type { Db } from '../db/index.ts';
import type { RelyingParty } from '../rp/index.ts';

/** What every route of the plugin needs, passed explicitly rather than through globals. */
export interface AppContext {
  readonly config: Config;
  readonly db: Db;
  readonly rp: RelyingParty;
}
