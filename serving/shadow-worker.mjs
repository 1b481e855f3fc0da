// Entry of the shadow worker thread. A worker starts without its parent's loaders, so it
// registers tsx itself before loading the TypeScript that answers shadow requests.
import { register } from 'tsx/esm/api';

register();
await import('./shadow-worker.ts');
