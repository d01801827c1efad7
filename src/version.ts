import pkg from "../package.json" with { type: "json" };

/** The program version, from package.json (inlined into the compiled binary). */
export const VERSION: string = pkg.version;
