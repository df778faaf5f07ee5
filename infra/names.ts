import { APP_NAME } from '../common/contract';

/**
 * Names the operations guide uses verbatim (`kubectl set image
 * deployment/boltlink-backend backend=…`): the chart names its objects with
 * them, the monitoring selects the pods' metrics by them (job label), the
 * tests type them. One home, no import cycle between chart and monitoring.
 */
export const DEPLOYMENT_NAME = APP_NAME;
export const CONTAINER_NAME = 'backend';
/** The release's ConfigMaps: its environment, and its Grafana dashboard. */
export const CONFIG_NAME = `${DEPLOYMENT_NAME}-config`;
export const DASHBOARD_NAME = `${DEPLOYMENT_NAME}-dashboard`;
