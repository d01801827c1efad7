/**
 * page-script.js is the browser's script, not a module: src/control/page.ts imports it as text
 * (`with { type: "text" }`), which is what this declares. The script itself is checked by
 * page-script.tsconfig.json.
 */
declare const text: string;
export default text;
