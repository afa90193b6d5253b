'use strict';
/*
 * Jest's node environment with the host's typed-array constructors. onnxruntime-node's binding
 * creates its output arrays in Node's own realm, and onnxruntime-common (and transformers.js)
 * check them with `instanceof Float32Array` in the test's realm, which jest gives separate
 * constructors (it already shares ArrayBuffer and Uint8Array for the same reason). Used by the
 * ONNX tests through their `@jest-environment` docblock.
 */
const { TestEnvironment } = require('jest-environment-node');

const SHARED = ['Int8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array', 'DataView'];

class OrtEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    for (const k of SHARED) this.global[k] = globalThis[k];
  }
}

module.exports = OrtEnvironment;
