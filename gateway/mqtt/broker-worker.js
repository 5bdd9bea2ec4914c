// Worker threads do not inherit the tsx loader (engineering.md): register it,
// then load the TypeScript worker (same pattern as records/export-worker.js).
import { register } from 'tsx/esm/api';

register();
await import('./broker-worker.ts');
