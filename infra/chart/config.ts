import * as kplus from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { CONFIG_NAME } from '../names';
import { meta, type Resolved } from './props';

/** The service's configuration that is not secret (the pods read it with envFrom). */
export class BackendConfig extends Construct {
  readonly configMap: kplus.ConfigMap;

  constructor(scope: Construct, id: string, r: Resolved) {
    super(scope, id);
    this.configMap = new kplus.ConfigMap(this, 'config', { metadata: meta(r, CONFIG_NAME), data: r.config });
  }
}
