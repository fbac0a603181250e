export { fetchGit, type FetchedGit, type GitFetchOptions, type GitFetchRequest } from './fetch.js';
export { checkGitUrl, redactUrl, type GitUrlAllowance } from './url.js';
