import { runOne } from './outside-in.ts';
const r = await runOne('fillgate', { posts: 8, fillsPerPost: 6, seed: 1401, log: console.log });
console.log(JSON.stringify(r.figures));
r.fills.forEach((f, k) => {
  const v = r.valves[k]!;
  if (v.opens !== 1 || v.closes !== 1 || f.contentKg > 2 || !f.completed) console.log(JSON.stringify({ ...f, v }));
});
process.exit(0);
