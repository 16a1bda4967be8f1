/** Tests run from TypeScript sources: ts-jest transpiles only, `npm run typecheck` type-checks. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages', '<rootDir>/examples'],
  testMatch: ['**/test/**/*.test.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json', isolatedModules: true }],
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true }, isolatedModules: true }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(inversify|@inversifyjs)/)'],
  moduleNameMapper: {
    // Package subpaths with an entry of their own (package.json "exports"), before the generic rules.
    '^@dmasim/core/testing$': '<rootDir>/packages/core/src/testing',
    '^@dmasim/([^/]+)$': '<rootDir>/packages/$1/src',
    '^@dmasim/([^/]+)/(.*)$': '<rootDir>/packages/$1/src/$2',
  },
  setupFiles: ['reflect-metadata'],
  globalSetup: '<rootDir>/jest.global-setup.cjs',
};
