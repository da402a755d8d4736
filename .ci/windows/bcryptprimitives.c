/*
 * bcryptprimitives.dll for Wine 8: the one function Rust's standard library
 * (1.78 and later) imports from it, ProcessPrng, which Wine 8 does not have.
 *
 * ProcessPrng fills a buffer from the system's cryptographic random number
 * generator; here that generator is BCryptGenRandom's system-preferred one,
 * which Wine implements. Windows documents ProcessPrng as never failing; if
 * the generator does fail, the process is ended rather than handed bytes
 * that are not random.
 *
 * Built with MinGW-w64 by .ci/windows/wine and placed in the Wine prefix's
 * system directory, so that every Windows executable run under that prefix
 * finds it. Never used on real Windows, which has the real DLL.
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        NTSTATUS status =
            BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        if (!BCRYPT_SUCCESS(status)) {
            FatalAppExitA(0, "bcryptprimitives: BCryptGenRandom failed");
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
