#!/usr/bin/env node
import '../dist/src/cli/gocmctl.js';
