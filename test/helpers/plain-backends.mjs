// A backend module in plain JavaScript (no TypeScript, no imports from src/), so a pool built
// from the compiled dist/ can load it without tsx: `createBackends({ name: { key: text } })`.
import { Readable } from 'node:stream';

export function createBackends(data) {
  return Object.entries(data).map(([name, objects]) => {
    const find = (key) => {
      const text = objects[key];
      if (text === undefined) throw Object.assign(new Error(`${name}: ${key}: NoSuchKey`), { code: 'BACKEND_ERROR', httpStatus: 502, backendStatus: 404 });
      return Buffer.from(text);
    };
    return {
      name,
      head: async (key) => ({ size: find(key).byteLength }),
      get: async (key) => {
        const bytes = find(key);
        return { size: bytes.byteLength, body: Readable.from([bytes]) };
      },
    };
  });
}
