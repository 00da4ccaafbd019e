/** The minimum Node version, as package.json "engines" states it (">=22.18"). */
export declare const requiredNode: string;
/** The one line saying this Node is too old, or undefined when it is recent enough. */
export declare function unsupportedNode(): string | undefined;
