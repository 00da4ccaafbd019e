/**
 * SCIM errors (RFC 7644 §3.12): a JSON object with `status` as a string, an optional `scimType`, and
 * a `detail`, sent as application/scim+json. Every refusal of the service is one of these.
 */
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType = 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath'
  | 'noTarget' | 'invalidValue' | 'invalidVers' | 'sensitive';

export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;

  constructor(status: number, detail: string, scimType?: ScimType) {
    super(detail);
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
  }

  /** The body on the wire. */
  toJSON(): { schemas: string[]; status: string; scimType?: ScimType; detail: string } {
    return { schemas: [ERROR_SCHEMA], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}), detail: this.message };
  }
}

/** 400 invalidValue: a value of the wrong type, out of bounds, or an attribute we don't know. */
export const invalidValue = (detail: string): ScimError => new ScimError(400, detail, 'invalidValue');
export const notFound = (what: string): ScimError => new ScimError(404, `${what} not found.`);
