#pragma once
#include "block/block_reduce.cuh"
#include "block/block_scan.cuh"
#include "device/device_scan.cuh"
#include "device/device_select.cuh"
