# make demo   build the local Redis image if needed, then run keyjob demo on a throwaway Redis
# make test   build the local Redis image when tests use it, then run every test
# make build  bin/keyjob
# make image  localhost/keyjob-redis:local, a Redis image built without a registry
#
# Tests start Redis in Docker (internal/redistest). They use
# $KEYJOB_REDIS_IMAGE, by default the image `make image` builds; set it to
# another image (e.g. redis:7.4) to skip the build and test against that.

GO ?= go
LOCAL_REDIS_IMAGE := localhost/keyjob-redis:local
KEYJOB_REDIS_IMAGE ?= $(LOCAL_REDIS_IMAGE)
export KEYJOB_REDIS_IMAGE

.PHONY: demo test build image

demo: $(if $(filter $(LOCAL_REDIS_IMAGE),$(KEYJOB_REDIS_IMAGE)),image)
	$(GO) run ./cmd/keyjob demo

test: $(if $(filter $(LOCAL_REDIS_IMAGE),$(KEYJOB_REDIS_IMAGE)),image)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...

build:
	$(GO) build -o bin/keyjob ./cmd/keyjob

image:
	bash scripts/redis-image.sh
