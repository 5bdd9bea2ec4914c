// Worker threads do not inherit the tsx loader (engineering.md): register it,
// then load the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./query-worker.ts');
