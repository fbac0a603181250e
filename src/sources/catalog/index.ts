export { Catalog, CATALOG_NAME, shortName, SERVER_JSON_MAX_BYTES, type CatalogEntry, type CatalogOptions } from './catalog.js';
export { parseServerJson, ServerJsonSchema, type ServerArgument, type ServerJson, type ServerPackage, type ServerRemote } from './schema.js';
