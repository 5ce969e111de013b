export { importPrestic, type PresticImportOptions } from "./prestic";
export { importHighball, type HighballImportResult, type DeletedJob } from "./highball";
export { TYPES, type NodeRedFlowNode, type ImportResult } from "./flow";
