// Test transform: returns bytes (upper-cased ASCII) from a view on a larger buffer, so the
// executor has to copy it into a buffer of its own before transferring it.
export default function upper(bytes, info) {
  const big = new Uint8Array(bytes.length + 16);
  for (let i = 0; i < bytes.length; i++) big[8 + i] = bytes[i] >= 97 && bytes[i] <= 122 ? bytes[i] - 32 : bytes[i];
  if (info.size !== bytes.length) throw new Error('info.size does not match the body');
  return big.subarray(8, 8 + bytes.length);
}
