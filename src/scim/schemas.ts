/**
 * What the service provider says about itself (RFC 7644 §4: ServiceProviderConfig, ResourceTypes,
 * Schemas) and the attributes of each schema it accepts (RFC 7643 §4, §8.7).
 */
export const CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const CORE_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/**
 * Extensions clients declare whose attributes are accepted and not stored: the enterprise User, and
 * Microsoft's (Entra's user extension, and the group schema its requests declare).
 */
export const USER_EXTENSIONS = [ENTERPRISE_USER, 'urn:ietf:params:scim:schemas:extension:Microsoft:Entra:2.0:User'];
export const GROUP_EXTENSIONS = ['http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'];

/** Every attribute of the core User schema (RFC 7643 §4.1), lower-cased: SCIM names are case-insensitive. */
export const USER_ATTRIBUTES = new Set([
  'schemas', 'id', 'externalid', 'meta', 'username', 'name', 'displayname', 'nickname', 'profileurl', 'title', 'usertype',
  'preferredlanguage', 'locale', 'timezone', 'active', 'password', 'emails', 'phonenumbers', 'ims', 'photos', 'addresses',
  'groups', 'entitlements', 'roles', 'x509certificates',
]);
export const GROUP_ATTRIBUTES = new Set(['schemas', 'id', 'externalid', 'meta', 'displayname', 'members']);

/** The most resources one list answer holds; a larger `count` gets this many (RFC 7644 §3.4.2.4). */
export const MAX_RESULTS = 200;
export const DEFAULT_RESULTS = 100;
/** Request bodies larger than this are refused (413) before they are parsed. */
export const MAX_BODY_BYTES = 512 * 1024;
/** PATCH operations per request. */
export const MAX_OPERATIONS = 1000;

export function serviceProviderConfig(base: string): object {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig'],
    documentationUri: 'https://github.com/oidc-connect/oidc-connect#scim-provisioning',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_RESULTS },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [{
      type: 'oauthbearertoken', name: 'OAuth Bearer Token', primary: true,
      description: 'Authentication with a bearer token from SCIM_TOKENS',
    }],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}

export function resourceTypes(base: string): object[] {
  return [
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'User', name: 'User', endpoint: '/Users',
      description: 'User Account', schema: CORE_USER,
      schemaExtensions: [{ schema: ENTERPRISE_USER, required: false }],
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
    },
    {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'], id: 'Group', name: 'Group', endpoint: '/Groups',
      description: 'Group', schema: CORE_GROUP,
      meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
    },
  ];
}

const attribute = (name: string, extra: object = {}) => ({
  name, type: 'string', multiValued: false, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none', ...extra,
});

/** The attributes this service stores, as RFC 7643 §7 describes them. */
export function schemas(base: string): object[] {
  return [
    {
      id: CORE_USER, name: 'User', description: 'User Account',
      attributes: [
        attribute('userName', { required: true, uniqueness: 'server' }),
        attribute('externalId', { caseExact: true }),
        attribute('name', { type: 'complex', subAttributes: [attribute('givenName'), attribute('familyName'), attribute('formatted', { mutability: 'readOnly' })] }),
        attribute('displayName'),
        attribute('nickName'),
        attribute('active', { type: 'boolean' }),
        attribute('password', { mutability: 'writeOnly', returned: 'never' }),
        attribute('emails', { type: 'complex', multiValued: true, subAttributes: [attribute('value'), attribute('type'), attribute('primary', { type: 'boolean' })] }),
        attribute('groups', { type: 'complex', multiValued: true, mutability: 'readOnly', subAttributes: [attribute('value', { mutability: 'readOnly' }), attribute('display', { mutability: 'readOnly' })] }),
      ],
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${CORE_USER}` },
    },
    {
      id: CORE_GROUP, name: 'Group', description: 'Group',
      attributes: [
        attribute('displayName', { required: true, uniqueness: 'server' }),
        attribute('externalId', { caseExact: true }),
        attribute('members', { type: 'complex', multiValued: true, subAttributes: [attribute('value', { mutability: 'immutable' }), attribute('display', { mutability: 'readOnly' })] }),
      ],
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${CORE_GROUP}` },
    },
    {
      id: ENTERPRISE_USER, name: 'EnterpriseUser', description: 'Enterprise User (accepted, not stored)', attributes: [],
      meta: { resourceType: 'Schema', location: `${base}/Schemas/${ENTERPRISE_USER}` },
    },
  ];
}
