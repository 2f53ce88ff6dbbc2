// Package query holds OrderFlow's read use cases, one file per read family.
// Each handler declares the narrow read port it needs (implemented by
// adapters/postgres) and reads cache-aside through app/cache; the loaders
// here are also what the projectors use to rewrite a cached read model, so
// both write the same values.
package query
