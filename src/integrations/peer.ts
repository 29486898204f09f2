/**
 * Framework packages are optional peer dependencies: the core package installs none of them, and
 * each subpath (crossrank/ai-sdk, crossrank/langchain, crossrank/llamaindex) loads its own here, so a
 * missing one fails the import with a CrossrankError that says what to install.
 */
import { CrossrankError } from '../errors.js';

/** The package part of a module specifier: '@scope/name' or 'name'. */
export function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Import `specifier`, a module of the framework package that `subpath` needs. When that package
 * cannot be found, throws ERR_MISSING_PEER naming it and the install command; any other failure
 * (a broken install, a missing dependency of the package itself) is rethrown as it is.
 * `importer` exists so tests can point the loader at modules that do not exist.
 */
export async function loadPeer<T>(specifier: string, subpath: string, importer: (s: string) => Promise<unknown> = (s) => import(s)): Promise<T> {
  const pkg = packageOf(specifier);
  try {
    return (await importer(specifier)) as T;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    const message = err.message ?? '';
    // The package itself is absent ("Cannot find package 'x'"; not a dependency of it), or the
    // installed version does not export this module.
    const missing =
      ((err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND') && (message.includes(`'${pkg}'`) || message.includes(`'${specifier}'`))) ||
      (err.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' && message.includes(`${pkg}/package.json`));
    if (!missing) throw e;
    throw new CrossrankError(
      'ERR_MISSING_PEER',
      `${subpath} needs the package "${pkg}", which is not installed (or lacks "${specifier}"): npm install ${pkg}`,
      { cause: e },
    );
  }
}
