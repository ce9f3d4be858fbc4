// Test transform: a result that cannot cross threads (a function inside).
export default function uncloneable() {
  return { fn: () => 1 };
}
