#!/usr/bin/env node
// Committed entry point: npm links a workspace's bin only if the file exists at install time,
// and dist/ is built after `npm ci`. This shim is always there and loads the built CLI.
import '../dist/cli/main.js';
