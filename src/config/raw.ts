/**
 * The shape both readers (INI and TOML) produce: sections in the order they first appear, each
 * with its entries in file order and their line numbers. Values are still untyped here; the
 * schema (schema.ts) turns them into one typed Config.
 */

/** INI gives strings; TOML may also give numbers, booleans and (for route lists) string arrays. */
export type RawValue = string | number | boolean | string[];

export interface RawEntry {
  key: string;
  value: RawValue;
  line: number;
}

export interface RawSection {
  name: string;
  /** Line of the first header of this section. */
  line: number;
  entries: RawEntry[];
}

export interface RawDocument {
  sections: RawSection[];
}

/** Finds or creates a section; a section repeated later in the file is merged into the first. */
export function sectionFor(doc: RawDocument, name: string, line: number): { section: RawSection; repeated: boolean } {
  const existing = doc.sections.find((s) => s.name === name);
  if (existing) return { section: existing, repeated: true };
  const section: RawSection = { name, line, entries: [] };
  doc.sections.push(section);
  return { section, repeated: false };
}
