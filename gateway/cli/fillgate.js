#!/usr/bin/env node
// Entry point for the `fillgate` command: registers tsx so the TypeScript
// sources run as they are (Node 20 has no type stripping), then hands over.
import { register } from 'tsx/esm/api';
register();
await import('./main.ts');
