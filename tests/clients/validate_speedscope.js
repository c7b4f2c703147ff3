// Validates speedscope files against the JSON Schema the speedscope npm
// package ships (dist/release/file-format-schema.json), with ajv.
//   NODE_PATH=<fixture node_modules> node validate_speedscope.js FILE...
// Prints "valid FILE" per file; exit 1 with ajv's errors on the first invalid one.
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const schemaPath = path.join(require.resolve('speedscope/package.json'), '..', 'dist', 'release',
                             'file-format-schema.json');
const ajv = new Ajv({allErrors: true, strict: false});
const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaPath, 'utf8')));
for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (!validate(doc)) {
    console.error('invalid ' + file + ': ' + ajv.errorsText(validate.errors, {separator: '\n  '}));
    process.exit(1);
  }
  console.log('valid ' + file);
}
