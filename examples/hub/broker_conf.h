/* edgekey hub: the mosquitto configuration written by `init`
 * (<dir>/broker/mosquitto.conf, and <dir>/broker/openssl.cnf activating the
 * edgekey provider when the hub key lives in the TPM). */
#ifndef HUB_BROKER_CONF_H
#define HUB_BROKER_CONF_H

#include "config.h"

int hub_broker_conf_write(const hub_config *cfg);

#endif
