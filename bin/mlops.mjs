#!/usr/bin/env node
// The `mlops` command: loads the TypeScript CLI through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../client/main.ts');
process.exitCode = await main(process.argv);
