#define _GNU_SOURCE
#include <sys/mman.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
int main(void){
  long pg=4096;
  void *priv=mmap(0,100*pg,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);     /* ac */
  void *nr=mmap(0,1000*pg,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE,-1,0); /* nr, no ac */
  void *sh=mmap(0,50*pg,PROT_READ|PROT_WRITE,MAP_SHARED|MAP_ANONYMOUS,-1,0);       /* shared anon */
  void *none=mmap(0,64*pg,PROT_NONE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);               /* reservation */
  mprotect((char*)none+16*pg,8*pg,PROT_READ|PROT_WRITE);                          /* 8 pages ac */
  void *ro=mmap(0,7*pg,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  mprotect(ro,7*pg,PROT_READ);  /* stays ac on <6.12? 6.12+ un-charges never-faulted anon */
  memset(priv,1,10*pg);
  char path[64]; snprintf(path,64,"cp /proc/%d/smaps smaps; cat /proc/meminfo > meminfo_unused",getpid());
  printf("priv %p nr %p sh %p none %p ro %p\n",priv,nr,sh,none,ro);
  system(path);
  return 0;
}
