/**
 * The slice of dcmjs 0.51 cineseg uses (the package ships no type declarations). Datasets are
 * "naturalized": keyword-named properties, sequences as arrays of objects.
 */
declare module 'dcmjs' {
  export type NaturalDataset = Record<string, unknown>;
  interface DicomDictInstance {
    meta: Record<string, unknown>;
    dict: Record<string, unknown>;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }
  const dcmjs: {
    data: {
      DicomMessage: {
        readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDictInstance;
      };
      DicomDict: new (meta: Record<string, unknown>) => DicomDictInstance;
      DicomMetaDictionary: {
        naturalizeDataset(dict: Record<string, unknown>): NaturalDataset;
        denaturalizeDataset(ds: NaturalDataset): Record<string, unknown>;
        uid(): string;
        date(): string;
        time(): string;
      };
    };
    log: { setLevel(level: string | number): void; getLevel(): number };
  };
  export default dcmjs;
}
