#!/bin/sh
# Creates Airut's namespace ($TEMPORAL_NAMESPACE, Airut's temporal.namespace)
# and registers the keyword search attributes Airut sets on its
# conversations. `airut server` does this itself for its embedded server;
# a separate cluster needs it done once. Run by the temporal-setup service
# of deploy/compose/compose.yaml and, as the same text, by the Job in
# deploy/kubernetes/airut-temporal-setup.yaml; safe to run again.
#
# The temporal CLI reads TEMPORAL_ADDRESS from the environment.
set -eu

ns=${TEMPORAL_NAMESPACE:-default}
retention=${TEMPORAL_RETENTION:-7d}

# retry CMD...: the frontend answers before every service is ready, and a
# new namespace takes a few seconds to reach every service.
retry() {
	n=0
	until "$@"; do
		n=$((n + 1))
		if [ "$n" -ge 30 ]; then
			echo "giving up: $*" >&2
			return 1
		fi
		sleep 2
	done
}

retry temporal operator cluster health
if temporal operator namespace describe --namespace "$ns" >/dev/null 2>&1; then
	echo "namespace $ns: present"
else
	retry temporal operator namespace create --namespace "$ns" --retention "$retention"
fi

# Airut's search attributes (workflows.SearchAttributeNames in the Airut
# repository; deploy/deploy_test.go keeps this list equal to it, and the
# Kubernetes copy equal to this file).
for name in AirutRepo AirutChannel AirutSender AirutStatus AirutPR; do
	if temporal operator search-attribute list --namespace "$ns" 2>/dev/null | grep -qw "$name"; then
		echo "search attribute $name: present"
	else
		retry temporal operator search-attribute create --namespace "$ns" --name "$name" --type Keyword
	fi
done
echo "namespace $ns ready for Airut"
