// Worker threads do not inherit the tsx loader (engineering.md): register it, then load the field.
import { register } from 'tsx/esm/api';

register();
await import('./cutoff-field.ts');
