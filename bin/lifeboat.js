#!/usr/bin/env node
// Entry point of the `lifeboat` command (Node.js 24 runs the TypeScript sources directly).
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
