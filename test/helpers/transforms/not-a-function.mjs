// Test transform: no default export function.
export const value = 1;
