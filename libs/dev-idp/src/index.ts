export { startDevIdp, escapeHtml, PANCHA_API_SCOPE, PANCHA_API_AUDIENCE, type DevIdpClient, type DevIdpOptions, type RunningDevIdp } from './dev-idp';
export { authenticateDevUser, DEFAULT_DEV_USERS, DEV_USERS_FILE, ensureDevUsers, parseDevUsers, type DevUser, type DevUsers } from './dev-users';
