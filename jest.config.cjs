/** Jest: unit/ (no addon), native/ (tiny models on CPU), e2e/ (the CLI as a user runs it). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: { module: 'CommonJS', moduleResolution: 'Node', isolatedModules: true }, diagnostics: { warnOnly: false } }],
  },
  moduleFileExtensions: ['ts', 'js', 'cjs', 'json'],
  testTimeout: 120000,
  maxWorkers: 2,
};
