// Loaded before every test file: Nest and TypeORM need the decorator metadata polyfill.
require('reflect-metadata');
