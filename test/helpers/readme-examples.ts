/**
 * The README's TypeScript examples as modules a consumer project can type-check against the
 * installed package (test/package/packaging.test.ts), so the README cannot drift from the API.
 *
 * Each ```ts block becomes one file: its `import` lines stay at the top, the rest becomes the
 * body of a function whose parameters stand for what the examples take from their
 * surroundings (a caller's signal, an open reader, key lists, the caller's own handler).
 * The body sits in an inner block, so an example may declare a name a parameter has (`rp`).
 */

/** One example, ready to write to `name` in the consumer project. */
export interface ReadmeExample {
  name: string;
  source: string;
}

const IMPORT_LINE = /^import .* from '[^']+';\s*$/;

/** What the examples use without defining: each a parameter of the wrapping function. */
const CONTEXT = `
  signal: AbortSignal,
  rp: Readpath__.ReadPath,
  keys: Iterable<string>,
  logKeys: Iterable<string>,
  keysFromSomewhere: () => AsyncIterable<string>,
  handle: (key: string, body: Uint8Array | undefined) => void,
`;

/** The ```ts blocks of `markdown` as type-checkable modules. */
export function readmeExamples(markdown: string): ReadmeExample[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m, i) => {
    const lines = (m[1] ?? '').split('\n');
    const imports = lines.filter((l) => IMPORT_LINE.test(l));
    const body = lines.filter((l) => !IMPORT_LINE.test(l));
    const source = [
      "import type * as Readpath__ from 'readpath';",
      ...imports,
      `export async function example(${CONTEXT}): Promise<void> {`,
      '  {',
      ...body,
      '  }',
      '}',
      '',
    ].join('\n');
    return { name: `readme-example-${i + 1}.ts`, source };
  });
}

/** The README's ```yaml blocks, as written (with the line each starts on, for messages). */
export function readmeYamlBlocks(markdown: string): { line: number; text: string }[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => ({
    line: markdown.slice(0, m.index).split('\n').length,
    text: m[1] ?? '',
  }));
}
