#!/usr/bin/env node
// The package ships TypeScript sources and runs them through tsx, so `compliance-sync` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./index.ts');
